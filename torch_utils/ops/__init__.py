"""Custom ops: bias_act, upfirdn2d, conv2d_resample, conv2d_gradfix, fma, modulated_conv2d, grid_sample_gradfix."""
