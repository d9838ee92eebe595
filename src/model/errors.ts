/**
 * Every failure the model can report, with the Neutron fault type and HTTP status it maps to.
 * The API turns these into NeutronError bodies; the CLI prints the message and exits non-zero.
 */
export class SfipError extends Error {
  constructor(
    /** Neutron's fault type name, e.g. `FloatingIPPortAlreadyAssociated`. */
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

export const badRequest = (message: string): SfipError => new SfipError('BadRequest', 400, message);
export const invalidInput = (message: string): SfipError =>
  new SfipError('InvalidInput', 400, `Invalid input for operation: ${message}`);
export const notFound = (type: string, message: string): SfipError => new SfipError(type, 404, message);
export const conflict = (type: string, message: string): SfipError => new SfipError(type, 409, message);
