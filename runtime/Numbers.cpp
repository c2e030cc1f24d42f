//===- Numbers.cpp - Strict parsing of numbers from the command line ------===//

#include "runtime/Numbers.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace moa::runtime {

/// strtoll/strtod accept leading spaces and a '+'; users' numbers do not
/// need them, and " 3" is more likely a mistake.
static bool startsCleanly(const std::string &text) {
  return !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) ||
                           text[0] == '-' || text[0] == '.');
}

bool parseInteger(const std::string &text, int64_t &value) {
  if (!startsCleanly(text))
    return false;
  char *end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(text.c_str(), &end, 10);
  if (errno == ERANGE || !end || *end != '\0')
    return false;
  value = parsed;
  return true;
}

bool parseFinite(const std::string &text, double &value) {
  if (!startsCleanly(text))
    return false;
  char *end = nullptr;
  errno = 0;
  const double parsed = std::strtod(text.c_str(), &end);
  if (errno == ERANGE || !end || *end != '\0' || !std::isfinite(parsed))
    return false;
  value = parsed;
  return true;
}

} // namespace moa::runtime
