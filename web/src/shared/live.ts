// Following a live stream (server-sent events). A browser's EventSource cannot send headers,
// so each connection opens with a single-use ticket from POST /v1/streams/tickets; when the
// connection drops, a new ticket and `last_event_id` resume exactly where it was.
import { commands, idempotencyKey } from "./api";

export interface Follow {
  close(): void;
}

export function follow(
  stream: string,
  event: string,
  onData: (data: unknown, id: string) => void,
  onState?: (state: "open" | "reconnecting") => void,
): Follow {
  let source: EventSource | null = null;
  let last: string | null = null;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const open = async () => {
    if (closed) return;
    const { data, error } = await commands.POST("/v1/streams/tickets", {
      body: { stream },
      params: { header: { "Idempotency-Key": idempotencyKey() } },
    });
    if (closed) return;
    if (error || !data) {
      onState?.("reconnecting");
      retry = setTimeout(open, 3000);
      return;
    }
    const q = new URLSearchParams({ ticket: data.ticket });
    if (last) q.set("last_event_id", last);
    source = new EventSource(`${stream}?${q}`);
    source.onopen = () => onState?.("open");
    source.addEventListener(event, (m) => {
      const e = m as MessageEvent<string>;
      if (e.lastEventId) last = e.lastEventId;
      onData(JSON.parse(e.data), e.lastEventId);
    });
    source.onerror = () => {
      // The ticket was used: the browser's own reconnection would be refused. Start over.
      source?.close();
      onState?.("reconnecting");
      retry = setTimeout(open, 1000);
    };
  };
  void open();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      source?.close();
    },
  };
}
