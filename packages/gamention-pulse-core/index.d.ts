export * from '@pulse/core';
