import { ValidationError, err, ok, type Result } from './errors.js';
import { MESSAGE_TYPE, type MessageDefinition, type MessageKind } from './message.js';

/**
 * The shape of a schema-library object the kernel can use without importing the library:
 * zod's `safeParse` matches it structurally. Contracts pass their zod schemas here.
 */
export interface SchemaLike<P> {
  safeParse(
    input: unknown,
  ):
    | { success: true; data: P }
    | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
}

/** `type` keeps its literal type (`'order.created.v1'`), so a subscription can be checked against a route at compile time. */
export function defineMessage<P, T extends string = string>(type: T, kind: MessageKind, schema: SchemaLike<P>): MessageDefinition<P, T> {
  if (!MESSAGE_TYPE.test(type))
    throw new Error(`message type ${type} is not a versioned name "<module>.<name>.v<N>" (e.g. "shop.cart-checked-out.v1")`);
  return {
    type,
    kind,
    schema,
    parse(payload: unknown): Result<P, ValidationError> {
      const result = schema.safeParse(payload);
      if (result.success) return ok(result.data);
      const issues = result.error.issues.map((i) => `${i.path.map(String).join('.') || '(payload)'}: ${i.message}`);
      return err(new ValidationError('INVALID_PAYLOAD', issues.join('; '), { issues }));
    },
  };
}
