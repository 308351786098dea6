// Every problem with a dataset on disk surfaces as a DatasetError with a stable code, so callers
// (and tests) can tell "file missing" from "truncated file" without parsing prose. Messages name
// the file involved and say what was expected.
import { CodedError } from '../util/errors.js';

export type DatasetErrorCode =
  | 'NOT_FOUND' // a file or folder is missing
  | 'NOT_INSTALLED' // a dataset that comes from a system package is absent
  | 'BAD_MAGIC' // an IDX file whose magic number is wrong (or a gzip file given to the raw parser)
  | 'TRUNCATED' // a file shorter than its header says
  | 'BAD_SIZE' // a record file whose size is not a whole number of records, or trailing bytes
  | 'MISMATCH' // image and label counts differ, or image shapes differ between files
  | 'BAD_LABEL' // a label outside [0, classes)
  | 'CHECKSUM' // an md5 that differs from the published one
  | 'BAD_GZIP' // a .gz file that does not decompress
  | 'BAD_ARGUMENT'; // a caller error: unknown dataset name, split larger than the data, ...

export class DatasetError extends CodedError<DatasetErrorCode> {
  constructor(code: DatasetErrorCode, message: string) { super('DatasetError', code, message); }
}
