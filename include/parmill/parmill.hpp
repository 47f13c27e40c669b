// parmill/parmill.hpp: the umbrella header; includes every public feature of parmill.
#pragma once

#include "parmill/backend.hpp"
#include "parmill/outcome.hpp"
#include "parmill/thread_pool.hpp"
#include "parmill/worker_context.hpp"
