// An order's timeline entries: how they read, and live ones merged in.
export interface TimelineItem {
  event_type: string;
  occurred_at: string;
  aggregate_type: string;
  reason?: string | null;
  sequence: number;
  aggregate_id: string;
}

/** "OrderPlaced" → "Order placed". */
export function humanise(eventType: string): string {
  const words = eventType.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Adds entries that arrived live, once each, in time order. */
export function merge(items: TimelineItem[], more: TimelineItem[]): TimelineItem[] {
  const key = (t: TimelineItem) => `${t.aggregate_type}/${t.aggregate_id}/${t.sequence}`;
  const seen = new Set(items.map(key));
  const out = [...items];
  for (const t of more) if (!seen.has(key(t))) (seen.add(key(t)), out.push(t));
  return out.sort((a, b) => a.occurred_at.localeCompare(b.occurred_at));
}
