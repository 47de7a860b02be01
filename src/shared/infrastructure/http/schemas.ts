/** JSON schemas shared by the HTTP routes of every module. Strict: unknown properties are refused. */
export const MAX_AMOUNT = Number.MAX_SAFE_INTEGER;

export const uuidSchema = {
  type: 'string',
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
} as const;

export function moneySchema(minimum: number) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['amount', 'currency'],
    properties: {
      // JSON schema's integer alone lets 1e300 through: bound it to the safe integers.
      amount: { type: 'integer', minimum, maximum: MAX_AMOUNT, description: 'integer minor units (cents for USD)' },
      currency: { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO-4217 code' },
    },
  } as const;
}

export const moneyResponseSchema = {
  type: 'object',
  required: ['amount', 'currency'],
  properties: { amount: { type: 'integer' }, currency: { type: 'string' } },
} as const;
