import { ValidationError, isUuid } from '../../../../shared/kernel/index.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import { toOrderView, type OrderView } from '../order.view.js';

export interface ListOrdersRequest {
  readonly customerId?: string;
  readonly limit: number;
  readonly cursor?: string;
}

export interface OrderListView {
  readonly items: OrderView[];
  readonly nextCursor: string | null;
}

export const MAX_PAGE_SIZE = 100;

/** Keyset pagination, newest first: the cursor is the last id of the previous page (opaque to clients). */
export class ListOrdersQuery {
  constructor(private readonly orders: OrderRepositoryPort) {}

  async execute(request: ListOrdersRequest): Promise<OrderListView> {
    if (!Number.isInteger(request.limit) || request.limit < 1 || request.limit > MAX_PAGE_SIZE) {
      throw new ValidationError('INVALID_LIMIT', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    }
    const beforeId = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
    const page = await this.orders.list({
      limit: request.limit,
      ...(request.customerId ? { customerId: request.customerId } : {}),
      ...(beforeId ? { beforeId } : {}),
    });
    const last = page.orders.at(-1);
    return { items: page.orders.map((o) => toOrderView(o)), nextCursor: page.hasMore && last ? encodeCursor(last.id) : null };
  }
}

function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isUuid(id)) throw new ValidationError('INVALID_CURSOR', 'cursor is not one this API returned');
  return id;
}
