"""The live event stream's vocabulary: topics, event shapes and the WebSocket protocol, pure.

`events` is what the assets publish (one `StreamEvent` per fact: a block indexed, a model promoted, a
batch's status changed); `protocol` is what the API and its clients say to each other. Neither does
I/O: `resources.stream_events` stores events, `serving.stream` fans them out.
"""
