# `cmake --install` layout: <prefix>/include/moa/{dialect,passes,capi,tools},
# <prefix>/lib/{libMoA*.a,libMoAPlugin.so}, <prefix>/bin/moa-opt and the
# package files in <prefix>/lib/cmake/moa, so that another project can
# find_package(MoA 0.1 REQUIRED) and link MoA::Dialect, MoA::Passes,
# MoA::Lowering, MoA::Runtime and MoA::CAPI.
include(CMakePackageConfigHelpers)

set(MOA_INSTALL_CMAKE_DIR lib/cmake/moa)

foreach(dir dialect passes lowering runtime runtime/cuda runtime/train capi tools)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/
    DESTINATION include/moa/${dir}
    FILES_MATCHING PATTERN "*.h" PATTERN "*.td"
    PATTERN "moa-*" EXCLUDE)
endforeach()
foreach(dir dialect passes lowering)
  install(DIRECTORY ${PROJECT_BINARY_DIR}/${dir}/
    DESTINATION include/moa/${dir}
    FILES_MATCHING PATTERN "*.inc" PATTERN "CMakeFiles" EXCLUDE)
endforeach()

set(MOA_EXPORTED_TARGETS MoADialect MoAPasses MoALowering MoAManifest MoARuntime
  MoATraining MoACAPI MoACudaRuntime MoAMockCudaRuntime)
if(MOA_SANITIZE)
  # Instrumented libraries: whoever links them needs the sanitizer runtimes.
  foreach(target ${MOA_EXPORTED_TARGETS})
    set_property(TARGET ${target} APPEND PROPERTY
      INTERFACE_LINK_OPTIONS -fsanitize=${MOA_SANITIZE})
  endforeach()
endif()
install(TARGETS ${MOA_EXPORTED_TARGETS}
  EXPORT MoATargets
  ARCHIVE DESTINATION lib
  LIBRARY DESTINATION lib
  INCLUDES DESTINATION include/moa)
install(EXPORT MoATargets NAMESPACE MoA:: DESTINATION ${MOA_INSTALL_CMAKE_DIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/MoAConfig.cmake.in
  ${PROJECT_BINARY_DIR}/MoAConfig.cmake
  INSTALL_DESTINATION ${MOA_INSTALL_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/MoAConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/MoAConfig.cmake
  ${PROJECT_BINARY_DIR}/MoAConfigVersion.cmake
  DESTINATION ${MOA_INSTALL_CMAKE_DIR})

# The Python package in <prefix>/python_packages/moa (on PYTHONPATH), with
# the prefix it finds moa-compile and libMoARuntime.so in.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/moa
  DESTINATION python_packages
  FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
install(CODE [[
  file(WRITE "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/python_packages/moa/_prefix.py"
       "PREFIX = '${CMAKE_INSTALL_PREFIX}'\n")
]])
