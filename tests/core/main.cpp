// The core test runner: Boost.Test's header-only variant, so the same sources build natively and
// with em++ (run under node) without a compiled Boost library.
#define BOOST_TEST_MODULE stacklab_core
#include <boost/test/included/unit_test.hpp>
