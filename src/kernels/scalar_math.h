// Scalar functions the kernels' loops inline (no libm call, so the loops around them vectorize).
#pragma once

namespace rembert::kernels {

inline float clamp_value(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

// erf as Eigen's rational approximation (|error| < 1e-7 on [-4, 4]; beyond, +-1 to within float's spacing of 1).
inline float erf_rational(float x) {
  const float z = clamp_value(x, -4.0f, 4.0f);
  const float z2 = z * z;
  float p = -2.72614225801306e-10f;
  p = p * z2 + 2.77068142495902e-08f;
  p = p * z2 - 2.10102402082508e-06f;
  p = p * z2 - 5.69250639462346e-05f;
  p = p * z2 - 7.34990630326855e-04f;
  p = p * z2 - 2.95459980854025e-03f;
  p = p * z2 - 1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * z2 - 2.13374055278905e-04f;
  q = q * z2 - 1.68282697438203e-03f;
  q = q * z2 - 7.37332916720468e-03f;
  q = q * z2 - 1.42647390514189e-02f;
  return z * p / q;
}

}  // namespace rembert::kernels
