// The Sparkplug B payload schema (Eclipse Tahu `sparkplug_b.proto`, package org.eclipse.tahu.protobuf) as a
// protobufjs JSON descriptor: the field names, numbers and types of the Sparkplug 3.0 specification's
// protobuf definition, written out here rather than shipped as a .proto so no file is read at run time.
// Extension ranges are left out: protobufjs skips unknown fields when decoding, which is all they are for.
// Field names are camelCase (protobufjs's convention); only the numbers and types go on the wire.
import type { INamespace } from 'protobufjs';

const valueOneof = (names: string[]): { oneof: string[] } => ({ oneof: names });

const scalarValues = {
  intValue: { type: 'uint32', id: 0 },
  longValue: { type: 'uint64', id: 0 },
  floatValue: { type: 'float', id: 0 },
  doubleValue: { type: 'double', id: 0 },
  booleanValue: { type: 'bool', id: 0 },
  stringValue: { type: 'string', id: 0 },
};

/** The six scalar value fields starting at field number `first`, as a oneof member list and fields. */
function scalars(first: number): Record<string, { type: string; id: number }> {
  return Object.fromEntries(
    Object.entries(scalarValues).map(([name, f], i) => [name, { type: f.type, id: first + i }]),
  );
}

const extension = { fields: {} };

export const sparkplugDescriptor: INamespace = {
  nested: {
    org: {
      nested: {
        eclipse: {
          nested: {
            tahu: {
              nested: {
                protobuf: {
                  nested: {
                    Payload: {
                      fields: {
                        timestamp: { type: 'uint64', id: 1 },
                        metrics: { rule: 'repeated', type: 'Metric', id: 2 },
                        seq: { type: 'uint64', id: 3 },
                        uuid: { type: 'string', id: 4 },
                        body: { type: 'bytes', id: 5 },
                      },
                      nested: {
                        Template: {
                          fields: {
                            version: { type: 'string', id: 1 },
                            metrics: { rule: 'repeated', type: 'Metric', id: 2 },
                            parameters: { rule: 'repeated', type: 'Parameter', id: 3 },
                            templateRef: { type: 'string', id: 4 },
                            isDefinition: { type: 'bool', id: 5 },
                          },
                          nested: {
                            Parameter: {
                              oneofs: {
                                value: valueOneof([...Object.keys(scalarValues), 'extensionValue']),
                              },
                              fields: {
                                name: { type: 'string', id: 1 },
                                type: { type: 'uint32', id: 2 },
                                ...scalars(3),
                                extensionValue: { type: 'ParameterValueExtension', id: 9 },
                              },
                              nested: { ParameterValueExtension: extension },
                            },
                          },
                        },
                        DataSet: {
                          fields: {
                            numOfColumns: { type: 'uint64', id: 1 },
                            columns: { rule: 'repeated', type: 'string', id: 2 },
                            types: { rule: 'repeated', type: 'uint32', id: 3 },
                            rows: { rule: 'repeated', type: 'Row', id: 4 },
                          },
                          nested: {
                            DataSetValue: {
                              oneofs: {
                                value: valueOneof([...Object.keys(scalarValues), 'extensionValue']),
                              },
                              fields: {
                                ...scalars(1),
                                extensionValue: { type: 'DataSetValueExtension', id: 7 },
                              },
                              nested: { DataSetValueExtension: extension },
                            },
                            Row: { fields: { elements: { rule: 'repeated', type: 'DataSetValue', id: 1 } } },
                          },
                        },
                        PropertyValue: {
                          oneofs: {
                            value: valueOneof([
                              ...Object.keys(scalarValues),
                              'propertysetValue',
                              'propertysetsValue',
                              'extensionValue',
                            ]),
                          },
                          fields: {
                            type: { type: 'uint32', id: 1 },
                            isNull: { type: 'bool', id: 2 },
                            ...scalars(3),
                            propertysetValue: { type: 'PropertySet', id: 9 },
                            propertysetsValue: { type: 'PropertySetList', id: 10 },
                            extensionValue: { type: 'PropertyValueExtension', id: 11 },
                          },
                          nested: { PropertyValueExtension: extension },
                        },
                        PropertySet: {
                          fields: {
                            keys: { rule: 'repeated', type: 'string', id: 1 },
                            values: { rule: 'repeated', type: 'PropertyValue', id: 2 },
                          },
                        },
                        PropertySetList: {
                          fields: { propertyset: { rule: 'repeated', type: 'PropertySet', id: 1 } },
                        },
                        MetaData: {
                          fields: {
                            isMultiPart: { type: 'bool', id: 1 },
                            contentType: { type: 'string', id: 2 },
                            size: { type: 'uint64', id: 3 },
                            seq: { type: 'uint64', id: 4 },
                            fileName: { type: 'string', id: 5 },
                            fileType: { type: 'string', id: 6 },
                            md5: { type: 'string', id: 7 },
                            description: { type: 'string', id: 8 },
                          },
                        },
                        Metric: {
                          oneofs: {
                            value: valueOneof([
                              ...Object.keys(scalarValues),
                              'bytesValue',
                              'datasetValue',
                              'templateValue',
                              'extensionValue',
                            ]),
                          },
                          fields: {
                            name: { type: 'string', id: 1 },
                            alias: { type: 'uint64', id: 2 },
                            timestamp: { type: 'uint64', id: 3 },
                            datatype: { type: 'uint32', id: 4 },
                            isHistorical: { type: 'bool', id: 5 },
                            isTransient: { type: 'bool', id: 6 },
                            isNull: { type: 'bool', id: 7 },
                            metadata: { type: 'MetaData', id: 8 },
                            properties: { type: 'PropertySet', id: 9 },
                            ...scalars(10),
                            bytesValue: { type: 'bytes', id: 16 },
                            datasetValue: { type: 'DataSet', id: 17 },
                            templateValue: { type: 'Template', id: 18 },
                            extensionValue: { type: 'MetricValueExtension', id: 19 },
                          },
                          nested: { MetricValueExtension: extension },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};
