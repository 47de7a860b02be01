/** A use-case id such as `customer.reserve-credit`: `<module>.<use-case>`, kebab-case on both sides. */
const USE_CASE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*\.[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

export function isUseCaseId(value: string): boolean {
  return USE_CASE.test(value);
}
