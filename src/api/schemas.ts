import { Type, type TProperties, type TSchema } from '@sinclair/typebox';

/** Wire-format building blocks. Values are checked for type here and for meaning in the model. */
export const Text = Type.String({ maxLength: 255 });
export const Id = Type.String({ maxLength: 64 });
export const Address = Type.String({ maxLength: 64 });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
export const Tags = Type.Array(Type.String({ maxLength: 255 }), { maxItems: 100 });

export const StandardAttributes = {
  name: Type.Optional(Text),
  description: Type.Optional(Text),
  tags: Type.Optional(Tags),
  project_id: Type.Optional(Id),
  tenant_id: Type.Optional(Id),
};

export const AddressRequest = Type.Object(
  { subnet_id: Type.Optional(Id), ip_address: Type.Optional(Address) },
  { additionalProperties: false },
);

/** `{ "<member>": { ...properties } }`, rejecting unknown attributes by name. */
export function wrapped(member: string, properties: TProperties, required: string[] = []) {
  const inner = Type.Object(properties, { additionalProperties: false });
  if (required.length > 0) inner.required = required;
  return Type.Object({ [member]: inner }, { additionalProperties: false });
}

export function standardInput(body: Record<string, unknown>) {
  return {
    ...(body.name !== undefined && { name: body.name as string }),
    ...(body.description !== undefined && { description: body.description as string }),
    ...(body.tags !== undefined && { tags: body.tags as string[] }),
    ...((body.project_id ?? body.tenant_id) !== undefined && {
      projectId: (body.project_id ?? body.tenant_id) as string,
    }),
  };
}

export function addressRequests(list: unknown): { subnetId?: string; ipAddress?: string }[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return (list as { subnet_id?: string; ip_address?: string }[]).map((r) => ({
    ...(r.subnet_id !== undefined && { subnetId: r.subnet_id }),
    ...(r.ip_address !== undefined && { ipAddress: r.ip_address }),
  }));
}
