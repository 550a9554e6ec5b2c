/**
 * Waits for a condition the test cannot subscribe to (a counter inside another component), checking it on
 * every turn of the timers. The budget is not a timing assertion: it is far beyond any plausible delay and
 * only turns a condition that never holds into a failure that says what was awaited, before the test's own
 * timeout would.
 */
const BUDGET_MS = 45_000;

export async function eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const giveUpAt = Date.now() + BUDGET_MS;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`Never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
