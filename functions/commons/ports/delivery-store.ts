/** Where the webhook delivery ledger is kept (domain/webhook-delivery.ts), one record per delivery. */
import type { Delivery } from '../domain/webhook-delivery.ts';

export interface DeliveryStore {
  get(id: string): Promise<Delivery | undefined>;
  /** The deliveries of these ids that exist, in no particular order. */
  getMany(ids: readonly string[]): Promise<Delivery[]>;
  /**
   * Writes `next` if the stored record is still the one read (`readVersion`; undefined: there is none yet).
   * False when someone wrote in between.
   */
  save(next: Delivery, readVersion: number | undefined): Promise<boolean>;
}
