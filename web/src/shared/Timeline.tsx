import { When } from "./ui";
import { humanise, type TimelineItem } from "./entries";

export { merge, type TimelineItem } from "./entries";

export function Timeline({ items }: { items: TimelineItem[] }) {
  return (
    <ol className="timeline" aria-label="Timeline" aria-live="polite">
      {items.map((t) => (
        <li key={`${t.aggregate_type}/${t.aggregate_id}/${t.sequence}`}>
          <strong>{humanise(t.event_type)}</strong> <When at={t.occurred_at} />
          {t.reason && <span className="muted"> — {t.reason}</span>}
        </li>
      ))}
    </ol>
  );
}

