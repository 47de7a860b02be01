/**
 * ECS names allow only [A-Za-z0-9_-]: a use case's task definition family is its id with `-`
 * for every `.` (`customer.reserve-credit` → `customer-reserve-credit`). ECS naming is the ECS
 * adapter's business; the modules and the kernel know use cases, not task families.
 */
export function taskFamilyOf(useCase: string): string {
  return useCase.replaceAll('.', '-');
}
