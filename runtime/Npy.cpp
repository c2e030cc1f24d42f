//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "runtime/Npy.h"
#include "runtime/AtomicFile.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace moa::runtime {

namespace {
constexpr char kMagic[] = "\x93NUMPY";

const char *descrOf(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "<f4";
  case DType::F16:
    return "<f2";
  case DType::BF16:
    return "<u2";
  case DType::I32:
    return "<i4";
  case DType::I1:
    return "|b1";
  }
  return "";
}

std::optional<DType> dtypeOfDescr(const std::string &descr,
                                  std::optional<DType> expected) {
  if (descr == "<f4")
    return DType::F32;
  if (descr == "<f2")
    return DType::F16;
  if (descr == "<i4")
    return DType::I32;
  if (descr == "|b1")
    return DType::I1;
  if (descr == "<V2" || descr == "|V2" || descr == "<u2")
    return expected == DType::BF16 ? std::optional<DType>(DType::BF16)
                                   : std::nullopt;
  return std::nullopt;
}

/// What the header dictionary says.
struct NpyHeader {
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
};

/// A strict reader of the header: the Python literal
/// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } that NumPy
/// writes, each key once, sizes plain decimal integers, then spaces and a
/// newline. Returns why it is not one ("" if it is).
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : text(text) {}

  std::string parse(NpyHeader &header) {
    bool seenDescr = false, seenOrder = false, seenShape = false;
    if (!consume('{'))
      return "the header is not a dictionary";
    while (!consume('}')) {
      std::string key;
      if (!quoted(key) || !consume(':'))
        return "the header is not a dictionary of quoted keys";
      if (key == "descr") {
        if (seenDescr || !quoted(header.descr))
          return "bad or repeated 'descr' in the header";
        seenDescr = true;
      } else if (key == "fortran_order") {
        if (seenOrder || !boolean(header.fortranOrder))
          return "bad or repeated 'fortran_order' in the header";
        seenOrder = true;
      } else if (key == "shape") {
        if (seenShape)
          return "repeated 'shape' in the header";
        if (std::string why = shape(header.shape); !why.empty())
          return why;
        seenShape = true;
      } else {
        return "unknown key '" + key + "' in the header";
      }
      if (!consume(',') && !peek('}'))
        return "the header is not a dictionary";
    }
    skipSpaces();
    if (at != text.size())
      return "text after the header's dictionary";
    if (!seenDescr)
      return "no 'descr' in the header";
    if (!seenOrder)
      return "no 'fortran_order' in the header";
    if (!seenShape)
      return "no 'shape' in the header";
    return "";
  }

private:
  const std::string &text;
  size_t at = 0;

  void skipSpaces() {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\n'))
      ++at;
  }
  bool peek(char c) {
    skipSpaces();
    return at < text.size() && text[at] == c;
  }
  bool consume(char c) {
    if (!peek(c))
      return false;
    ++at;
    return true;
  }
  bool word(const char *w) {
    skipSpaces();
    const size_t n = std::char_traits<char>::length(w);
    if (text.compare(at, n, w) != 0)
      return false;
    at += n;
    return true;
  }
  bool quoted(std::string &out) {
    if (!consume('\''))
      return false;
    const size_t end = text.find('\'', at);
    if (end == std::string::npos || end - at > 64)
      return false;
    out = text.substr(at, end - at);
    at = end + 1;
    return true;
  }
  bool boolean(bool &out) {
    if (word("True"))
      return out = true, true;
    if (word("False"))
      return out = false, true;
    return false;
  }
  /// A tuple of non-negative decimal sizes, `(3,)` or `(2, 3)` or `()`.
  std::string shape(std::vector<int64_t> &out) {
    if (!consume('('))
      return "the header's 'shape' is not a tuple";
    while (!consume(')')) {
      skipSpaces();
      size_t digits = 0;
      int64_t size = 0;
      while (at < text.size() &&
             std::isdigit(static_cast<unsigned char>(text[at]))) {
        if (++digits > 15)
          return "a dimension in the header's 'shape' is too large";
        size = size * 10 + (text[at++] - '0');
      }
      if (digits == 0 || (!peek(',') && !peek(')')))
        return "the header's 'shape' holds something other than "
               "non-negative integers";
      out.push_back(size);
      if (out.size() > 32)
        return "the header's 'shape' has more than 32 dimensions";
      consume(',');
    }
    return "";
  }
};

std::string parseHeader(const std::string &text, NpyHeader &header) {
  return HeaderParser(text).parse(header);
}
} // namespace

std::optional<Tensor> readNpy(const std::string &path, std::string &error,
                              std::optional<DType> expected) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open '" + path + "'";
    return std::nullopt;
  }
  auto malformed = [&](const std::string &why) {
    error = "'" + path + "' is not a valid .npy file: " + why;
    return std::nullopt;
  };
  char magic[6];
  unsigned char version[2];
  if (!in.read(magic, 6) || std::string(magic, 6) != std::string(kMagic, 6) ||
      !in.read(reinterpret_cast<char *>(version), 2))
    return malformed("no NumPy magic string");
  uint32_t headerLength = 0;
  unsigned char lengthBytes[4] = {0, 0, 0, 0};
  int lengthSize = version[0] == 1 ? 2 : 4;
  if (version[0] < 1 || version[0] > 3 ||
      !in.read(reinterpret_cast<char *>(lengthBytes), lengthSize))
    return malformed("unsupported format version");
  for (int i = lengthSize - 1; i >= 0; --i)
    headerLength = headerLength * 256 + lengthBytes[i];
  if (headerLength > (1u << 20))
    return malformed("header too long");
  std::string header(headerLength, '\0');
  if (!in.read(header.data(), headerLength))
    return malformed("truncated header");

  NpyHeader parsed;
  if (std::string why = parseHeader(header, parsed); !why.empty())
    return malformed(why);
  if (parsed.fortranOrder) {
    error = "'" + path + "' is in Fortran order; save it in C order";
    return std::nullopt;
  }
  const std::string &descr = parsed.descr;
  const std::vector<int64_t> &shape = parsed.shape;
  int64_t elements = 1;
  for (int64_t size : shape) {
    if (size > 0 && elements > (int64_t(1) << 50) / size)
      return malformed("the shape has too many elements");
    elements *= size;
  }
  std::optional<DType> dtype = dtypeOfDescr(descr, expected);
  if (!dtype) {
    error = "'" + path + "' holds dtype '" + descr +
            "', which moa does not read (f32 '<f4', f16 '<f2', i32 '<i4', "
            "bool '|b1', bf16 '<V2' or '<u2')";
    return std::nullopt;
  }
  // Compare with the file size before allocating anything.
  const std::streamoff dataStart = in.tellg();
  in.seekg(0, std::ios::end);
  const std::streamoff available = in.tellg() - dataStart;
  in.seekg(dataStart);
  if (elements * dtypeSize(*dtype) > available)
    return malformed("the data is shorter than the shape " +
                     formatShape(shape) + " needs");
  Tensor tensor(*dtype, shape);
  if (!in.read(static_cast<char *>(tensor.data()), tensor.byteSize()))
    return malformed("the data is shorter than the shape " +
                     formatShape(shape) + " needs");
  return tensor;
}

bool writeNpy(const std::string &path, const Tensor &tensor,
              std::string &error) {
  std::ostringstream dict;
  dict << "{'descr': '" << descrOf(tensor.dtype())
       << "', 'fortran_order': False, 'shape': (";
  for (int64_t size : tensor.shape())
    dict << size << ", ";
  dict << "), }";
  std::string header = dict.str();
  // Pad so that the data starts at a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  const unsigned char version[2] = {1, 0};
  const unsigned char length[2] = {
      static_cast<unsigned char>(header.size() & 0xff),
      static_cast<unsigned char>(header.size() >> 8)};
  return writeFileAtomically(
      path,
      [&](const WriteBytes &write) {
        return write(kMagic, 6) && write(version, 2) && write(length, 2) &&
               write(header.data(), header.size()) &&
               write(tensor.data(), size_t(tensor.byteSize()));
      },
      error);
}

} // namespace moa::runtime
