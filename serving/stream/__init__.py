"""`GET /api/v1/stream`: the live event stream over WebSocket.

`hub` fans events out to the connections of one app (a bounded queue each: a slow client is dropped,
never waited for); `feeds` move events from the warehouse log (`resources.stream_events`) into the
hub, directly or through a Redis stream so every replica sees every event; `endpoint` is the
WebSocket route (auth, limits, resumption, heartbeats); `service` ties them to the app's lifespan.
"""
