"""Lua sources of the Redis backend's atomic operations (one key each: Cluster-safe).

Each script touches only KEYS[1]; PUBLISH names a channel, which is not a key. Scripts are
registered once (EVALSHA, re-loaded by redis-py after a server restart empties its cache).
"""

from __future__ import annotations

__all__ = ["CREATE_RECORD", "EXPIRING_SET_ADD", "INCR", "TRANSITION"]

# ARGV: ttl_ms, field1, value1, ... -> 1 created, 0 a key already exists.
CREATE_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

# ARGV: amount, ttl_ms -> the new value. The expiry is set when the counter has none, that
# is when INCRBY just created it: a fixed window from the first increment.
INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""

# ARGV: to_state, ttl_ms|'', unexpired_at|'', channel|'', n, from_1..from_n, f1, v1, ...
# -> {1, new record} moved; {0, record as it stands} conflict; {-1} absent.
# 'state' is written last so it wins over a 'state' in the fields.
TRANSITION = """
local key = KEYS[1]
local flat = redis.call('HGETALL', key)
if #flat == 0 then return {-1} end
local record = {}
for i = 1, #flat, 2 do record[flat[i]] = flat[i + 1] end
local n = tonumber(ARGV[5])
local allowed = false
for i = 6, 5 + n do
  if record['state'] == ARGV[i] then allowed = true break end
end
if allowed and ARGV[3] ~= '' then
  local expires_at = tonumber(record['expires_at'] or '')
  allowed = expires_at ~= nil and expires_at > tonumber(ARGV[3])
end
if not allowed then return {0, flat} end
local args = {}
for i = 6 + n, #ARGV do args[#args + 1] = ARGV[i] end
args[#args + 1] = 'state'
args[#args + 1] = ARGV[1]
redis.call('HSET', key, unpack(args))
if ARGV[2] ~= '' then redis.call('PEXPIRE', key, ARGV[2]) end
flat = redis.call('HGETALL', key)
if ARGV[4] ~= '' then
  for i = 1, #flat, 2 do record[flat[i]] = flat[i + 1] end
  redis.call('PUBLISH', ARGV[4], cjson.encode(record))
end
return {1, flat}
"""

# ARGV: member, expires_at, now (the caller's clock, which wrote expires_at) -> live count.
# Drops expired members and lets the key expire with its last member (relative PEXPIRE, so
# a skew between the caller's clock and the server's does not matter).
EXPIRING_SET_ADD = """
local key = KEYS[1]
local now = tonumber(ARGV[3])
redis.call('ZADD', key, ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[3])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if #last == 0 then return 0 end
redis.call('PEXPIRE', key, math.max(1, math.ceil((tonumber(last[2]) - now) * 1000)))
return redis.call('ZCARD', key)
"""
