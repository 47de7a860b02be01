import type { EcsTransport } from '../../shared/infrastructure/messaging/ecs/ecs-transport.js';
import type { Delivery } from '../../shared/infrastructure/messaging/subscription.js';
import type { DeliveryDispatcher, DeliveryTransport, ReadinessCheck } from '../../shared/infrastructure/messaging/transport.js';

/**
 * The ECS transport of a use-case task, loaded on first use. A task signals only after its
 * first delivery is committed (relaying what the use case wrote launches the next task), so the
 * AWS SDK, its credential chain and the launcher's pool are set up then, not before the task
 * has done any useful work. Every call goes to the same EcsTransport once it is loaded.
 */
export class DeferredEcsTransport implements DeliveryTransport {
  readonly name = 'ecs' as const;
  readonly launchesTasks = true;
  private loading: Promise<EcsTransport> | undefined;

  constructor(private readonly load: () => Promise<EcsTransport>) {}

  private driver(): Promise<EcsTransport> {
    // A failed load is tried again on the next call rather than remembered.
    this.loading ??= this.load().catch((error: unknown) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  async startConsumers(dispatcher: DeliveryDispatcher): Promise<void> {
    const transport: DeliveryTransport = await this.driver();
    await transport.startConsumers(dispatcher);
  }

  async signal(deliveries: readonly Delivery[], options?: { readonly redelivery?: boolean }): Promise<void> {
    const transport: DeliveryTransport = await this.driver();
    await transport.signal(deliveries, options);
  }

  /** A successor for a task that stops with work left (its time limit, a SIGTERM). */
  async relaunch(useCase: string): Promise<void> {
    await (await this.driver()).relaunch(useCase);
  }

  async ping(): Promise<void> {
    await (await this.driver()).ping();
  }

  readiness(): readonly ReadinessCheck[] {
    return [];
  }

  async maintain(schemas: readonly string[]): Promise<unknown> {
    const transport: DeliveryTransport = await this.driver();
    return transport.maintain?.(schemas);
  }

  /** Closes the transport if it was ever loaded; a task that launched nothing has nothing to close. */
  async close(): Promise<void> {
    const loading = this.loading;
    if (!loading) return;
    const transport = await loading.catch(() => undefined);
    await transport?.close();
  }
}
