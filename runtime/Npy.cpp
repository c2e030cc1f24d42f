//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "runtime/Npy.h"

#include <fstream>
#include <regex>
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

  std::smatch match;
  if (!std::regex_search(header, match,
                         std::regex("'descr'\\s*:\\s*'([^']*)'")))
    return malformed("no 'descr' in the header");
  std::string descr = match[1];
  if (!std::regex_search(header, match,
                         std::regex("'fortran_order'\\s*:\\s*(True|False)")))
    return malformed("no 'fortran_order' in the header");
  if (match[1] == "True") {
    error = "'" + path + "' is in Fortran order; save it in C order";
    return std::nullopt;
  }
  if (!std::regex_search(header, match,
                         std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)")))
    return malformed("no 'shape' in the header");
  std::vector<int64_t> shape;
  std::string dims = match[1];
  std::regex number("\\s*(\\d+)\\s*(,|$)");
  int64_t elements = 1;
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end;
       it != end; ++it) {
    const std::string digits = (*it)[1];
    if (digits.size() > 15)
      return malformed("dimension " + digits + " is too large");
    const int64_t size = std::stoll(digits);
    if (size > 0 && elements > (int64_t(1) << 50) / size)
      return malformed("the shape has too many elements");
    elements *= size;
    shape.push_back(size);
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
  std::ofstream out(path, std::ios::binary);
  if (!out) {
    error = "cannot write '" + path + "'";
    return false;
  }
  out.write(kMagic, 6);
  const unsigned char version[2] = {1, 0};
  out.write(reinterpret_cast<const char *>(version), 2);
  const unsigned char length[2] = {
      static_cast<unsigned char>(header.size() & 0xff),
      static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char *>(length), 2);
  out << header;
  out.write(static_cast<const char *>(tensor.data()), tensor.byteSize());
  if (!out) {
    error = "error writing '" + path + "'";
    return false;
  }
  return true;
}

} // namespace moa::runtime
