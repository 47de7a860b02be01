export type OrderStatus = 'PENDING' | 'APPROVED' | 'REJECTED' | 'CANCELLED';
export type RejectionReason = 'CREDIT_LIMIT_EXCEEDED' | 'CUSTOMER_NOT_FOUND' | 'CURRENCY_MISMATCH' | 'TIMEOUT';
