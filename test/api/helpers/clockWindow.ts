/**
 * Waits, when fewer than `needMs` remain, for the next window of `windowMs` aligned to the epoch,
 * so that a run of calls a test expects to share one window never straddles a boundary. Both of
 * the proxy's fixed windows are epoch-aligned: the rate limit's (`reserve_call`: the window starts
 * at `now_ms - now_ms % window_ms`) and a team member's daily budget (the UTC day, i.e. a window
 * of 86,400,000 ms).
 */
export async function awaitFreshWindow(windowMs: number, needMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 20));
}
