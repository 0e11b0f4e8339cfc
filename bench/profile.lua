-- wrk: GET /v1/users/{id} with the id drawn for each request, from the comma-separated
-- TARGET_IDS, or else uniformly from MIN_ID..MAX_ID.
local ids = {}
local min_id, max_id

function init(args)
  local list = os.getenv("TARGET_IDS")
  if list and list ~= "" then
    for id in string.gmatch(list, "%d+") do
      ids[#ids + 1] = id
    end
  else
    min_id = tonumber(os.getenv("MIN_ID"))
    max_id = tonumber(os.getenv("MAX_ID"))
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 1000)
end

function request()
  local id
  if #ids > 0 then
    id = ids[math.random(#ids)]
  else
    id = math.random(min_id, max_id)
  end
  return wrk.format("GET", "/v1/users/" .. id)
end
