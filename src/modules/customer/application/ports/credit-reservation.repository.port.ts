import type { CreditReservation } from '../../domain/credit-reservation.entity.js';

export interface CreditReservationRepositoryPort {
  findByOrderIdForUpdate(orderId: string): Promise<CreditReservation | null>;
  save(reservation: CreditReservation): Promise<void>;
}
