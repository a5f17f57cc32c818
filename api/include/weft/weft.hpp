#pragma once
// The umbrella header: everything a weft user touches, in namespace weft.
#include <weft/channel.hpp>
#include <weft/clock.hpp>
#include <weft/errors.hpp>
#include <weft/gather.hpp>
#include <weft/join_handle.hpp>
#include <weft/runtime.hpp>
#include <weft/shield.hpp>
#include <weft/spawn.hpp>
#include <weft/task.hpp>
#include <weft/this_task.hpp>
#include <weft/time.hpp>
#include <weft/timeout.hpp>
#include <weft/wait.hpp>
#include <weft/when_any.hpp>
#include <weft/scheduler/task_info.hpp>
