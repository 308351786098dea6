#!/usr/bin/python3
"""Reads TensorBoard event files with Python's protobuf runtime and crcmod's CRC-32C, a reader
independent of the TypeScript one: checks every record's framing and CRCs, decodes each Event and
prints a summary (file_version, steps, tags). Usage: check-tfevents.py FILE..."""
import struct
import sys

import crcmod.predefined
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

crc32c = crcmod.predefined.mkCrcFun('crc-32c')


def masked(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def event_class():
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name='ev.proto', package='tb', syntax='proto3')

    def msg(name, fields, parent=None):
        m = (parent.nested_type if parent else fdp.message_type).add(name=name)
        for fname, num, ftype, label, tname, oneof in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = tname
            if oneof is not None:
                f.oneof_index = oneof
        return m
    O, R = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    tensor = msg('TensorProto', [('dtype', 1, F.TYPE_INT32, O, None, None), ('string_val', 8, F.TYPE_BYTES, R, None, None)])
    plugin = msg('PluginData', [('plugin_name', 1, F.TYPE_STRING, O, None, None)])
    meta = msg('SummaryMetadata', [('plugin_data', 1, F.TYPE_MESSAGE, O, '.tb.PluginData', None)])
    value = msg('Value', [('tag', 1, F.TYPE_STRING, O, None, None), ('simple_value', 2, F.TYPE_FLOAT, O, None, 0),
                          ('tensor', 8, F.TYPE_MESSAGE, O, '.tb.TensorProto', 0), ('metadata', 9, F.TYPE_MESSAGE, O, '.tb.SummaryMetadata', None)])
    value.oneof_decl.add(name='value')
    msg('Summary', [('value', 1, F.TYPE_MESSAGE, R, '.tb.Value', None)])
    msg('SessionLog', [('status', 1, F.TYPE_INT32, O, None, None)])
    ev = msg('Event', [('wall_time', 1, F.TYPE_DOUBLE, O, None, None), ('step', 2, F.TYPE_INT64, O, None, None),
                       ('file_version', 3, F.TYPE_STRING, O, None, 0), ('summary', 5, F.TYPE_MESSAGE, O, '.tb.Summary', 0),
                       ('session_log', 7, F.TYPE_MESSAGE, O, '.tb.SessionLog', 0)])
    ev.oneof_decl.add(name='what')
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName('tb.Event'))


def check(path, Event):
    buf = open(path, 'rb').read()
    at, events = 0, []
    while at < len(buf):
        (length,) = struct.unpack_from('<Q', buf, at)
        (lcrc,) = struct.unpack_from('<I', buf, at + 8)
        assert lcrc == masked(buf[at:at + 8]), f'{path}: length CRC of record {len(events)}'
        data = buf[at + 12:at + 12 + length]
        (dcrc,) = struct.unpack_from('<I', buf, at + 12 + length)
        assert dcrc == masked(data), f'{path}: data CRC of record {len(events)}'
        e = Event()
        e.ParseFromString(data)
        events.append(e)
        at += 12 + length + 4
    assert events[0].file_version == 'brain.Event:2', 'first record is not file_version brain.Event:2'
    tags = sorted({v.tag for e in events if e.HasField('summary') for v in e.summary.value})
    steps = [e.step for e in events if e.HasField('summary')]
    starts = [e.step for e in events if e.HasField('session_log')]
    print(f'{path}: {len(events)} records, CRCs ok, steps {min(steps)}..{max(steps)}, session starts {starts}, {len(tags)} tags: {", ".join(tags)}')


if __name__ == '__main__':
    Event = event_class()
    for p in sys.argv[1:]:
        check(p, Event)
