import proxyAddr from '@fastify/proxy-addr';
import type { TrustProxy } from '../../config/config.js';

/** Whether the `hop`-th address of a request (0: the socket's peer, then X-Forwarded-For from the right) is a proxy's. */
export type TrustedHop = (address: string, hop: number) => boolean;

/**
 * TRUST_PROXY as the function Fastify (proxy-addr) asks about each hop. A hop count is counted
 * here: Fastify 5 takes a number as "trust nothing" (it cannot check the peer), so `1` would give
 * every request the balancer's address.
 */
export function trustedHopFrom(trust: TrustProxy): TrustedHop | false {
  switch (trust.kind) {
    case 'none':
      return false;
    case 'every-hop':
      return () => true;
    case 'hops':
      return trust.hops === 0 ? false : (_address, hop) => hop < trust.hops;
    case 'addresses':
      return proxyAddr.compile([...trust.addresses]);
  }
}
