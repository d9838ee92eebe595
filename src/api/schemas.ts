import { Type, type TProperties, type TSchema } from '@sinclair/typebox';
import { badRequest } from '../model/index.js';

/** Wire-format building blocks. Values are checked for type and shape here and for meaning in the model. */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
export const Text = Type.String({ maxLength: 255 });
/** Resource ids in bodies are UUIDs, as Neutron's type:uuid validator requires. */
export const Id = Type.String({ pattern: UUID_PATTERN, description: 'UUID' });
export const ProjectId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' });
export const Address = Type.String({ maxLength: 64, description: 'dotted-quad IPv4' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** Neutron's tag rules: 1-255 characters, no comma (filters list tags comma-separated), no slash (tags go in URLs). */
export const TAG_PATTERN = '^[^,/]{1,255}$';
export const Tags = Type.Array(Type.String({ pattern: TAG_PATTERN }), { maxItems: 50 });

export const StandardAttributes = {
  name: Type.Optional(Text),
  description: Type.Optional(Text),
  tags: Type.Optional(Tags),
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
};

export const AddressRequest = Type.Object(
  { subnet_id: Type.Optional(Id), ip_address: Type.Optional(Address) },
  { additionalProperties: false },
);

/** `{ "<member>": { ...properties } }`, rejecting unknown attributes by name. */
export function wrapped(member: string, properties: TProperties, required: string[] = []) {
  const inner = Type.Object(properties, { additionalProperties: false });
  if (required.length > 0) inner.required = required;
  else delete inner.required;
  return Type.Object({ [member]: inner }, { additionalProperties: false });
}

export function standardInput(body: Record<string, unknown>) {
  if (body.project_id !== undefined && body.tenant_id !== undefined && body.project_id !== body.tenant_id) {
    throw badRequest(
      `project_id '${String(body.project_id)}' and tenant_id '${String(body.tenant_id)}' differ.`,
    );
  }
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
