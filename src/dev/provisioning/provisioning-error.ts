/** The configuration or the machine cannot provide a service; the message says what to do about it. */
export class ProvisioningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProvisioningError';
  }
}
