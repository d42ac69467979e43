// Positions drawn on an SVG of the delivery area: no map tiles, nothing from the internet.
export interface Point {
  lat: number;
  lon: number;
}

export interface Frame {
  minLat: number;
  maxLat: number;
  minLon: number;
  maxLon: number;
}

/** The smallest frame holding every point, with a margin (a share of its size, at least ~100 m). */
export function frameOf(points: Point[], margin = 0.15): Frame | null {
  if (points.length === 0) return null;
  let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
  for (const p of points) {
    minLat = Math.min(minLat, p.lat);
    maxLat = Math.max(maxLat, p.lat);
    minLon = Math.min(minLon, p.lon);
    maxLon = Math.max(maxLon, p.lon);
  }
  const dLat = Math.max(maxLat - minLat, 0.001) * margin + 0.001;
  const dLon = Math.max(maxLon - minLon, 0.001) * margin + 0.001;
  return { minLat: minLat - dLat, maxLat: maxLat + dLat, minLon: minLon - dLon, maxLon: maxLon + dLon };
}

/**
 * A point in an SVG view box of `width` × `height`: longitude to x (scaled by the cosine of the
 * latitude so distances look right), latitude to y (north up).
 */
export function project(p: Point, f: Frame, width: number, height: number): { x: number; y: number } {
  const midLat = ((f.minLat + f.maxLat) / 2) * (Math.PI / 180);
  const spanX = (f.maxLon - f.minLon) * Math.cos(midLat);
  const spanY = f.maxLat - f.minLat;
  const scale = Math.min(width / spanX, height / spanY);
  const offX = (width - spanX * scale) / 2;
  const offY = (height - spanY * scale) / 2;
  return {
    x: offX + (p.lon - f.minLon) * Math.cos(midLat) * scale,
    y: offY + (f.maxLat - p.lat) * scale,
  };
}

/** Positions in millionths of a degree, as the API gives them. */
export function fromE6(lat_e6: number, lon_e6: number): Point {
  return { lat: lat_e6 / 1e6, lon: lon_e6 / 1e6 };
}
