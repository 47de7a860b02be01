import { ValidationError } from './errors.js';

/** The ISO 4217 codes of the currencies in use, as the runtime's ICU data lists them. */
const ISO_4217 = new Set(Intl.supportedValuesOf('currency'));

/** Whether `code` is an ISO 4217 code of a currency in use: `USD` is, `usd` and `XYZ` are not. */
export function isIsoCurrency(code: unknown): code is string {
  return typeof code === 'string' && ISO_4217.has(code);
}

export interface MoneyJson {
  readonly amount: number;
  readonly currency: string;
}

/**
 * An amount of money in integer minor units (cents for USD) and an ISO-4217 currency code.
 * Never a float: fractional, non-finite and unsafe integers are refused, and so is arithmetic
 * across currencies.
 */
export class Money {
  private constructor(
    readonly amount: number,
    readonly currency: string,
  ) {}

  static of(amount: number, currency: string): Money {
    if (!isIsoCurrency(currency)) {
      throw new ValidationError('INVALID_CURRENCY', `currency must be an ISO 4217 code such as USD, got ${JSON.stringify(currency)}`);
    }
    Money.assertAmount(amount);
    return new Money(amount, currency);
  }

  static zero(currency: string): Money {
    return Money.of(0, currency);
  }

  static fromJson(json: MoneyJson): Money {
    return Money.of(json.amount, json.currency);
  }

  add(other: Money): Money {
    this.assertSameCurrency(other);
    return Money.of(this.amount + other.amount, this.currency);
  }

  subtract(other: Money): Money {
    this.assertSameCurrency(other);
    return Money.of(this.amount - other.amount, this.currency);
  }

  isNegative(): boolean {
    return this.amount < 0;
  }

  isPositive(): boolean {
    return this.amount > 0;
  }

  sameCurrency(other: Money): boolean {
    return this.currency === other.currency;
  }

  greaterThanOrEqual(other: Money): boolean {
    this.assertSameCurrency(other);
    return this.amount >= other.amount;
  }

  greaterThan(other: Money): boolean {
    this.assertSameCurrency(other);
    return this.amount > other.amount;
  }

  equals(other: Money): boolean {
    return this.currency === other.currency && this.amount === other.amount;
  }

  toJSON(): MoneyJson {
    return { amount: this.amount, currency: this.currency };
  }

  toString(): string {
    return `${this.amount} ${this.currency} (minor units)`;
  }

  private assertSameCurrency(other: Money): void {
    if (this.currency !== other.currency) {
      throw new ValidationError('CURRENCY_MISMATCH', `cannot combine ${this.currency} with ${other.currency}`, {
        left: this.currency,
        right: other.currency,
      });
    }
  }

  private static assertAmount(amount: number): void {
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) {
      throw new ValidationError(
        'INVALID_AMOUNT',
        `amount must be a safe integer number of minor units (|amount| <= ${Number.MAX_SAFE_INTEGER}), got ${String(amount)}`,
      );
    }
  }
}
