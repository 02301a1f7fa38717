#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "config/schema.h"

int main(int argc, char** argv) {
  kiln::register_builtins();
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
