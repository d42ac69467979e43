import { describe, expect, it } from "vitest";
import { frameOf, fromE6, project } from "./geo";

describe("geo", () => {
  const amsterdam = [
    { lat: 52.37, lon: 4.89 },
    { lat: 52.38, lon: 4.9 },
    { lat: 52.36, lon: 4.88 },
  ];
  it("frames every point with a margin", () => {
    const f = frameOf(amsterdam)!;
    for (const p of amsterdam) {
      expect(p.lat).toBeGreaterThan(f.minLat);
      expect(p.lat).toBeLessThan(f.maxLat);
      expect(p.lon).toBeGreaterThan(f.minLon);
      expect(p.lon).toBeLessThan(f.maxLon);
    }
    expect(frameOf([])).toBeNull();
  });
  it("projects inside the view box, north up, east right", () => {
    const f = frameOf(amsterdam)!;
    const pts = amsterdam.map((p) => project(p, f, 400, 300));
    for (const { x, y } of pts) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(400);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(300);
    }
    // The northern point is higher (smaller y), the eastern one further right.
    expect(pts[1].y).toBeLessThan(pts[0].y);
    expect(pts[1].x).toBeGreaterThan(pts[2].x);
  });
  it("reads millionths of a degree", () => {
    expect(fromE6(52370000, 4890000)).toEqual({ lat: 52.37, lon: 4.89 });
  });
});
