/**
 * The ids the gateway hands out (tasks, uploads) are random UUIDs, lower-case: anything else in their
 * place (encoded slashes, traversal, junk) is simply not one of ours.
 */
const GATEWAY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isGatewayId(value: string): boolean {
  return GATEWAY_ID.test(value);
}
