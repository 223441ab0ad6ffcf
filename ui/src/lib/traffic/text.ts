// Words for the traffic-management results: made here, at the edge, from the typed data the
// Rust actions return.
import type { ActionKind } from "../generated/ActionKind";
import type { FaultEffect } from "../generated/FaultEffect";
import type { KeptReason } from "../generated/KeptReason";
import type { ObjectId } from "../generated/ObjectId";

export const ACTION_WORD: Record<ActionKind, string> = {
  weights: "weights",
  route: "routing",
  fault: "fault",
  timeout: "timeout",
  retries: "retries",
  breaker: "circuit breaker",
  mtls: "mTLS",
  resetRouting: "reset",
};

export function objectText(o: ObjectId): string {
  return `${o.kind} ${o.namespace}/${o.name}`;
}

export const KEPT_WHY: Record<KeptReason, string> = {
  ingressRouting: "the ingress's routing, as setup left it",
  notWrittenByApp: "not written by the app",
};

const secs = (ms: number) => `${Number((ms / 1000).toFixed(3))} s`;

/** The lesson of a fault, in words (the CLI says the same). */
export function faultEffectText(e: FaultEffect): string {
  switch (e.type) {
    case "productpageGivesUp":
      return (
        `The ${secs(e.delay_ms)} delay on ${e.service} is longer than productpage waits for reviews ` +
        `(${secs(e.productpage_timeout_ms)}, ${e.productpage_attempts} tries), so after about ${secs(e.page_wait_ms)} the page says ` +
        `“Sorry, product reviews are currently unavailable for this book.” reviews v2 itself would have waited ` +
        `${secs(e.reviews_timeout_ms)} for ratings: the timeouts do not fit together, which is the bug this fault finds.`
      );
    case "slower":
      return `Requests to ${e.service} take ${secs(e.delay_ms)} longer; every timeout on the way is longer, so the page only slows down.`;
    case "ratingsUnavailable":
      return `ratings answers ${e.status} at once, so reviews v2 and v3 show “Ratings service is currently unavailable” (reviews v1 never calls ratings).`;
    case "partUnavailable":
      return `${e.service} answers ${e.status} at once, so the page says that part is currently unavailable.`;
    case "pageFails":
      return `The product page itself answers ${e.status}.`;
    case "other":
      return `The callers of ${e.service} get the delay or the error.`;
  }
}
