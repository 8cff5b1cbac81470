#include "spt/core/device.h"

#include "spt/core/error.h"

namespace spt {

Device device_from_name(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  if (name == "cuda") return Device::cuda(0);
  if (name.rfind("cuda:", 0) == 0) {
    const std::string idx = name.substr(5);
    if (!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 4)
      return Device::cuda(std::stoi(idx));
  }
  fail("[device] unknown device '", name, "'; hint: use cpu, cuda or cuda:N");
}

}  // namespace spt
