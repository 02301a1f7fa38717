#pragma once
// The typed errors live in the public header (include/kiln/error.h): the embedding library throws
// the same classes, with the same messages, as the CLI prints.
#include "kiln/error.h"
