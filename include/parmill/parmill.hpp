// parmill/parmill.hpp: the umbrella header; includes every public feature of parmill.
#pragma once

#include "parmill/backend.hpp"
#include "parmill/journal.hpp"
#include "parmill/map.hpp"
#include "parmill/map_options.hpp"
#include "parmill/outcome.hpp"
#include "parmill/pipeline.hpp"
#include "parmill/pipeline_report.hpp"
#include "parmill/progress.hpp"
#include "parmill/thread_pool.hpp"
#include "parmill/worker_context.hpp"
#include "parmill/workers.hpp"
