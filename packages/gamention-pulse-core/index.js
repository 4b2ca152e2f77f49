// The name the hosted product's docs import PulseClient from; the client itself is @pulse/core.
export * from '@pulse/core';
