#ifndef DOCSHARE_SESSIONS_LUA_SCRIPTS_H_
#define DOCSHARE_SESSIONS_LUA_SCRIPTS_H_

// The Redis store's Lua scripts: service/sessions/lua/<name>.lua, embedded
// at build time by cmake/embed_lua.cmake as k<Name> (the generated
// lua_scripts.cc). The prelude is prepended to every script.

#include <string_view>

namespace docshare::lua {

extern const std::string_view kPrelude;
extern const std::string_view kStart;
extern const std::string_view kGet;
extern const std::string_view kEnd;
extern const std::string_view kAppend;
extern const std::string_view kSubscribe;
extern const std::string_view kExpire;
extern const std::string_view kWithdraw;
extern const std::string_view kAcknowledge;
extern const std::string_view kSnapshot;
extern const std::string_view kWatchers;

}  // namespace docshare::lua

#endif  // DOCSHARE_SESSIONS_LUA_SCRIPTS_H_
