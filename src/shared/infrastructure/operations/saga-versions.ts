import type { Container } from 'inversify';
import type { SagaDefinition } from '../../kernel/index.js';

/** How many instances of a saga stand in one state under one definition version. */
export interface SagaInstanceCount {
  readonly saga: string;
  readonly definitionVersion: number;
  readonly state: string;
  readonly instances: number;
}

/** A module's count of its saga instances, read from its own schema. */
export interface SagaInstancesPort {
  countByVersion(): Promise<SagaInstanceCount[]>;
}

/**
 * The orchestrated sagas a module runs (ADR 37): every definition version this release handles
 * (the contract lock compares them with the released ones; the newest starts new instances) and
 * its instances by version, so an operator sees when an old version has drained and a process
 * refuses to start while instances of a version it no longer handles can still move.
 */
export interface ModuleSagas {
  readonly definitions: readonly SagaDefinition[];
  instances(container: Container): SagaInstancesPort;
}

export interface SagaVersionSummary {
  readonly version: number;
  /** This release handles instances of it (it is in the module's definitions). */
  readonly handled: boolean;
  /** New instances start under it. */
  readonly current: boolean;
  readonly instances: number;
  /** Instances in a state with a way out: they may still receive a step. 0 means drained. */
  readonly movable: number;
  readonly states: readonly { readonly state: string; readonly instances: number; readonly movable: boolean }[];
}

export interface SagaSummaryByVersion {
  readonly saga: string;
  readonly currentVersion: number;
  readonly versions: readonly SagaVersionSummary[];
}

/** A hosted module's sagas, with the container its instance counts are read through. */
export interface HostedSagas {
  readonly sagas: ModuleSagas;
  readonly container: Container;
}

/**
 * The instances of every hosted saga by definition version (ADR 37): what `GET /admin/saga-versions`
 * shows, and what a process refuses to start over. A state is movable under a version the release
 * handles when that version has a transition out of it; under a version it no longer handles (its
 * definition is gone), when some handled version has one, or none knows the state.
 */
export class SagaVersions {
  constructor(private readonly hosted: readonly HostedSagas[]) {}

  async report(): Promise<SagaSummaryByVersion[]> {
    const counts = (await Promise.all(this.hosted.map((h) => h.sagas.instances(h.container).countByVersion()))).flat();
    const definitions = this.hosted.flatMap((h) => h.sagas.definitions);
    const names = [...new Set([...definitions.map((d) => d.saga), ...counts.map((c) => c.saga)])].sort();
    return names.map((saga) =>
      summaryOf(
        saga,
        definitions.filter((d) => d.saga === saga),
        counts.filter((c) => c.saga === saga),
      ),
    );
  }

  /** One sentence per version this release no longer handles whose instances can still move; empty when it may start. */
  async refusals(): Promise<string[]> {
    const report = await this.report();
    return report.flatMap((s) =>
      s.versions
        .filter((v) => !v.handled && v.movable > 0)
        .map(
          (v) =>
            `saga ${s.saga}: ${v.movable} instance(s) started under definition v${v.version} can still move, and this release handles only ${handledOf(s)}: deploy a release that still handles v${v.version} until GET /admin/saga-versions shows them drained (ADR 37)`,
        ),
    );
  }
}

function handledOf(s: SagaSummaryByVersion): string {
  const handled = s.versions.filter((v) => v.handled).map((v) => `v${v.version}`);
  return handled.length > 0 ? handled.join(', ') : 'no version';
}

function summaryOf(saga: string, definitions: readonly SagaDefinition[], counts: readonly SagaInstanceCount[]): SagaSummaryByVersion {
  const handled = new Map(definitions.map((d) => [d.version, d]));
  const currentVersion = Math.max(0, ...definitions.map((d) => d.version));
  const versions = [...new Set([...handled.keys(), ...counts.map((c) => c.definitionVersion)])].sort((a, b) => a - b);
  return {
    saga,
    currentVersion,
    versions: versions.map((version) => {
      const own = handled.get(version);
      const states = counts
        .filter((c) => c.definitionVersion === version)
        .map((c) => ({
          state: c.state,
          instances: c.instances,
          movable: own ? canMove(own, c.state) : canMoveUnder(definitions, c.state),
        }));
      return {
        version,
        handled: own !== undefined,
        current: version === currentVersion,
        instances: states.reduce((n, s) => n + s.instances, 0),
        movable: states.reduce((n, s) => n + (s.movable ? s.instances : 0), 0),
        states,
      };
    }),
  };
}

const canMove = (definition: SagaDefinition, state: string): boolean => definition.transitions.some((t) => t.from === state);

function canMoveUnder(definitions: readonly SagaDefinition[], state: string): boolean {
  const knowing = definitions.filter((d) => d.states.includes(state));
  return knowing.length === 0 || knowing.some((d) => canMove(d, state));
}
