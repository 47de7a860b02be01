/** Something that happened inside an aggregate. Stays inside its module; the application maps it to contract messages. */
export interface DomainEvent {
  readonly name: string;
  readonly occurredAt: Date;
}
