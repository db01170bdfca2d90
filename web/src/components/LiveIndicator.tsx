import type { LiveMode } from "../live";

const TEXT: Record<LiveMode, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  polling: "Polling",
};

const HELP: Record<LiveMode, string> = {
  connecting: "Opening the server's stream of changes; asking every second meanwhile.",
  live: "Changes are pushed by the server as they happen.",
  reconnecting: "The stream of changes dropped; reconnecting, and asking every second meanwhile.",
  polling: "The server does not stream changes to this page: it asks every second.",
};

/** How the page stays current: a coloured dot and a word, with an accessible name. */
export function LiveIndicator({ mode }: { mode: LiveMode }) {
  return (
    <p className={`live live-${mode}`} role="status" aria-label={`Updates: ${TEXT[mode]}`} title={HELP[mode]} data-mode={mode}>
      <span className="dot" aria-hidden="true" />
      {TEXT[mode]}
    </p>
  );
}
