// The subset of TensorFlow's event.proto, summary.proto, tensor.proto and tensor_shape.proto that
// TensorBoard event files need here (scalars, text, session logs), parsed once by protobufjs.
// Field numbers follow TensorFlow's definitions; everything else is left out.
import protobuf from 'protobufjs';

const EVENT_PROTO = `
syntax = "proto3";
package tensorboard;
message TensorShapeProto {
  message Dim { int64 size = 1; string name = 2; }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}
message TensorProto {
  int32 dtype = 1;
  TensorShapeProto tensor_shape = 2;
  repeated bytes string_val = 8;
}
message SummaryMetadata {
  message PluginData { string plugin_name = 1; bytes content = 2; }
  PluginData plugin_data = 1;
  string display_name = 2;
  string summary_description = 3;
  int32 data_class = 4;
}
message Summary {
  message Value {
    string node_name = 7;
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
      TensorProto tensor = 8;
    }
  }
  repeated Value value = 1;
}
message SessionLog {
  enum SessionStatus { STATUS_UNSPECIFIED = 0; START = 1; STOP = 2; CHECKPOINT = 3; }
  SessionStatus status = 1;
  string checkpoint_path = 2;
  string msg = 3;
}
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
    SessionLog session_log = 7;
  }
}
`;

const root = protobuf.parse(EVENT_PROTO, { keepCase: true }).root;
export const EventProto = root.lookupType('tensorboard.Event');

/** TensorFlow's DataType enum value of a string tensor. */
export const DT_STRING = 7;
/** SessionLog.START: TensorBoard drops the events of earlier writers at this step and later. */
export const SESSION_START = 1;
