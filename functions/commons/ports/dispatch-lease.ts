/**
 * One dispatcher at a time, across every function. Dispatchers that ran side by side would all chase the
 * same heads — each loser takes a slot, fails to mark the head and gives the slot back, then chases the
 * next — so a burst of N requests with free slots cost in the order of N² writes. Whoever cannot take the
 * lease instead leaves a note: the holder, before it lets go, runs again while a note was left, so no
 * wake-up is lost.
 */
export interface DispatchLease {
  /**
   * Takes the lease for `holder` (clearing the notes: this dispatch serves them); false when another holds
   * it, leaving the holder a note unless told not to (a try that will be made again).
   */
  acquire(holder: string, leaveNote?: boolean): Promise<boolean>;
  /**
   * Lets go of the lease unless a note was left meanwhile: then the note is cleared, the lease kept, and
   * false returned (dispatch again). True also when the lease is no longer the holder's (it expired).
   */
  release(holder: string): Promise<boolean>;
  /** Lets go whatever notes were left (they stay, for the next dispatcher). */
  abandon(holder: string): Promise<void>;
}
