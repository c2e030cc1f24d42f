//===- Numbers.h - Strict parsing of numbers from the command line -*- C++
//-*-===//
//
// Numbers from users (command-line options, checkpoint metadata): the whole
// text must be the number, out-of-range values are refused rather than
// saturated, and a real number must be finite.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_NUMBERS_H
#define MOA_RUNTIME_NUMBERS_H

#include <cstdint>
#include <string>

namespace moa::runtime {

/// A decimal integer ("-12", "300"), within int64_t.
bool parseInteger(const std::string &text, int64_t &value);
/// A finite real number ("0.5", "1e-3"); not nan, inf or out of range.
bool parseFinite(const std::string &text, double &value);

} // namespace moa::runtime

#endif // MOA_RUNTIME_NUMBERS_H
