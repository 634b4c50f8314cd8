// The parts of the OpenFX C API (image effect API 1, suites V1/V2, spec 1.4) that frameloom's
// plugin and its test host use, declared here from the published specification: no OFX SDK is
// packaged anywhere this project installs from. Layouts and string values must match the spec
// byte for byte; a host or plugin built against the official headers talks to this one.
//
// Build with -DOFX_SDK_INCLUDE=<openfx>/include to compile bridge/ofx/src/sdk_check.cpp, which
// asserts these declarations against the official headers.
#pragma once

#include <cstddef>

#if defined(_WIN32)
#define FRAMELOOM_OFX_EXPORT extern "C" __declspec(dllexport)
#else
#define FRAMELOOM_OFX_EXPORT extern "C" __attribute__((visibility("default")))
#endif

extern "C" {

// ---- core: handles, status, the plugin struct --------------------------------------------------

typedef struct OfxPropertySetStruct* OfxPropertySetHandle;
typedef int OfxStatus;
typedef double OfxTime;

typedef struct OfxHost {
  OfxPropertySetHandle host;
  const void* (*fetchSuite)(OfxPropertySetHandle host, const char* suiteName, int suiteVersion);
} OfxHost;

typedef OfxStatus(OfxPluginEntryPoint)(const char* action, const void* handle,
                                       OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs);

typedef struct OfxPlugin {
  const char* pluginApi;
  int apiVersion;
  const char* pluginIdentifier;
  unsigned int pluginVersionMajor;
  unsigned int pluginVersionMinor;
  void (*setHost)(OfxHost* host);
  OfxPluginEntryPoint* mainEntry;
} OfxPlugin;

typedef struct OfxRangeI { int min, max; } OfxRangeI;
typedef struct OfxRangeD { double min, max; } OfxRangeD;
typedef struct OfxPointI { int x, y; } OfxPointI;
typedef struct OfxPointD { double x, y; } OfxPointD;
// Pixel rectangles are half open: x1 <= x < x2, y1 <= y < y2, origin bottom left.
typedef struct OfxRectI { int x1, y1, x2, y2; } OfxRectI;
typedef struct OfxRectD { double x1, y1, x2, y2; } OfxRectD;

// ---- image effect handles ----------------------------------------------------------------------

typedef struct OfxImageEffectStruct* OfxImageEffectHandle;
typedef struct OfxImageClipStruct* OfxImageClipHandle;
typedef struct OfxImageMemoryStruct* OfxImageMemoryHandle;
typedef struct OfxParamStruct* OfxParamHandle;
typedef struct OfxParamSetStruct* OfxParamSetHandle;
typedef struct OfxMutex* OfxMutexHandle;

typedef void(OfxThreadFunctionV1)(unsigned int threadIndex, unsigned int threadMax, void* customArg);

// ---- suites (function order is the ABI) --------------------------------------------------------

typedef struct OfxPropertySuiteV1 {
  OfxStatus (*propSetPointer)(OfxPropertySetHandle, const char* property, int index, void* value);
  OfxStatus (*propSetString)(OfxPropertySetHandle, const char* property, int index, const char* value);
  OfxStatus (*propSetDouble)(OfxPropertySetHandle, const char* property, int index, double value);
  OfxStatus (*propSetInt)(OfxPropertySetHandle, const char* property, int index, int value);
  OfxStatus (*propSetPointerN)(OfxPropertySetHandle, const char* property, int count, void* const* value);
  OfxStatus (*propSetStringN)(OfxPropertySetHandle, const char* property, int count, const char* const* value);
  OfxStatus (*propSetDoubleN)(OfxPropertySetHandle, const char* property, int count, const double* value);
  OfxStatus (*propSetIntN)(OfxPropertySetHandle, const char* property, int count, const int* value);
  OfxStatus (*propGetPointer)(OfxPropertySetHandle, const char* property, int index, void** value);
  OfxStatus (*propGetString)(OfxPropertySetHandle, const char* property, int index, char** value);
  OfxStatus (*propGetDouble)(OfxPropertySetHandle, const char* property, int index, double* value);
  OfxStatus (*propGetInt)(OfxPropertySetHandle, const char* property, int index, int* value);
  OfxStatus (*propGetPointerN)(OfxPropertySetHandle, const char* property, int count, void** value);
  OfxStatus (*propGetStringN)(OfxPropertySetHandle, const char* property, int count, char** value);
  OfxStatus (*propGetDoubleN)(OfxPropertySetHandle, const char* property, int count, double* value);
  OfxStatus (*propGetIntN)(OfxPropertySetHandle, const char* property, int count, int* value);
  OfxStatus (*propReset)(OfxPropertySetHandle, const char* property);
  OfxStatus (*propGetDimension)(OfxPropertySetHandle, const char* property, int* count);
} OfxPropertySuiteV1;

// Values travel through the varargs: pointers to C variables for the getters (double*, int*,
// char** by parameter type), the values themselves for the setters.
typedef struct OfxParameterSuiteV1 {
  OfxStatus (*paramDefine)(OfxParamSetHandle, const char* paramType, const char* name,
                           OfxPropertySetHandle* propertySet);
  OfxStatus (*paramGetHandle)(OfxParamSetHandle, const char* name, OfxParamHandle* param,
                              OfxPropertySetHandle* propertySet);
  OfxStatus (*paramSetGetPropertySet)(OfxParamSetHandle, OfxPropertySetHandle* propHandle);
  OfxStatus (*paramGetPropertySet)(OfxParamHandle, OfxPropertySetHandle* propHandle);
  OfxStatus (*paramGetValue)(OfxParamHandle, ...);
  OfxStatus (*paramGetValueAtTime)(OfxParamHandle, OfxTime time, ...);
  OfxStatus (*paramGetDerivative)(OfxParamHandle, OfxTime time, ...);
  OfxStatus (*paramGetIntegral)(OfxParamHandle, OfxTime time1, OfxTime time2, ...);
  OfxStatus (*paramSetValue)(OfxParamHandle, ...);
  OfxStatus (*paramSetValueAtTime)(OfxParamHandle, OfxTime time, ...);
  OfxStatus (*paramGetNumKeys)(OfxParamHandle, unsigned int* numberOfKeys);
  OfxStatus (*paramGetKeyTime)(OfxParamHandle, unsigned int nthKey, OfxTime* time);
  OfxStatus (*paramGetKeyIndex)(OfxParamHandle, OfxTime time, int direction, int* index);
  OfxStatus (*paramDeleteKey)(OfxParamHandle, OfxTime time);
  OfxStatus (*paramDeleteAllKeys)(OfxParamHandle);
  OfxStatus (*paramCopy)(OfxParamHandle paramTo, OfxParamHandle paramFrom, OfxTime dstOffset,
                         const OfxRangeD* frameRange);
  OfxStatus (*paramEditBegin)(OfxParamSetHandle, const char* name);
  OfxStatus (*paramEditEnd)(OfxParamSetHandle);
} OfxParameterSuiteV1;

typedef struct OfxImageEffectSuiteV1 {
  OfxStatus (*getPropertySet)(OfxImageEffectHandle, OfxPropertySetHandle* propHandle);
  OfxStatus (*getParamSet)(OfxImageEffectHandle, OfxParamSetHandle* paramSet);
  OfxStatus (*clipDefine)(OfxImageEffectHandle, const char* name, OfxPropertySetHandle* propertySet);
  OfxStatus (*clipGetHandle)(OfxImageEffectHandle, const char* name, OfxImageClipHandle* clip,
                             OfxPropertySetHandle* propertySet);
  OfxStatus (*clipGetPropertySet)(OfxImageClipHandle, OfxPropertySetHandle* propHandle);
  // region: canonical coordinates, or null for the default region. The image must be released
  // with clipReleaseImage before the action returns.
  OfxStatus (*clipGetImage)(OfxImageClipHandle, OfxTime time, const OfxRectD* region,
                            OfxPropertySetHandle* imageHandle);
  OfxStatus (*clipReleaseImage)(OfxPropertySetHandle imageHandle);
  OfxStatus (*clipGetRegionOfDefinition)(OfxImageClipHandle, OfxTime time, OfxRectD* bounds);
  int (*abort)(OfxImageEffectHandle);
  OfxStatus (*imageMemoryAlloc)(OfxImageEffectHandle instanceHandle, size_t nBytes,
                                OfxImageMemoryHandle* memoryHandle);
  OfxStatus (*imageMemoryFree)(OfxImageMemoryHandle);
  OfxStatus (*imageMemoryLock)(OfxImageMemoryHandle, void** returnedPtr);
  OfxStatus (*imageMemoryUnlock)(OfxImageMemoryHandle);
} OfxImageEffectSuiteV1;

typedef struct OfxMemorySuiteV1 {
  OfxStatus (*memoryAlloc)(void* handle, size_t nBytes, void** allocatedData);
  OfxStatus (*memoryFree)(void* allocatedData);
} OfxMemorySuiteV1;

typedef struct OfxMultiThreadSuiteV1 {
  OfxStatus (*multiThread)(OfxThreadFunctionV1 func, unsigned int nThreads, void* customArg);
  OfxStatus (*multiThreadNumCPUs)(unsigned int* nCPUs);
  OfxStatus (*multiThreadIndex)(unsigned int* threadIndex);
  int (*multiThreadIsSpawnedThread)(void);
  OfxStatus (*mutexCreate)(OfxMutexHandle* mutex, int lockCount);
  OfxStatus (*mutexDestroy)(const OfxMutexHandle mutex);
  OfxStatus (*mutexLock)(const OfxMutexHandle mutex);
  OfxStatus (*mutexUnLock)(const OfxMutexHandle mutex);
  OfxStatus (*mutexTryLock)(const OfxMutexHandle mutex);
} OfxMultiThreadSuiteV1;

typedef struct OfxMessageSuiteV1 {
  OfxStatus (*message)(void* handle, const char* messageType, const char* messageId,
                       const char* format, ...);
} OfxMessageSuiteV1;

// V2 begins with V1's one function, so a V2 pointer serves as a V1 pointer too.
typedef struct OfxMessageSuiteV2 {
  OfxStatus (*message)(void* handle, const char* messageType, const char* messageId,
                       const char* format, ...);
  OfxStatus (*setPersistentMessage)(void* handle, const char* messageType, const char* messageId,
                                    const char* format, ...);
  OfxStatus (*clearPersistentMessage)(void* handle);
} OfxMessageSuiteV2;

}  // extern "C"

// ---- names and values ------------------------------------------------------------------------
// The spec defines these as string macros; here they are constants of the same names and values.

namespace ofx {

// status codes
constexpr OfxStatus kOfxStatOK = 0;
constexpr OfxStatus kOfxStatFailed = 1;
constexpr OfxStatus kOfxStatErrFatal = 2;
constexpr OfxStatus kOfxStatErrUnknown = 3;
constexpr OfxStatus kOfxStatErrMissingHostFeature = 4;
constexpr OfxStatus kOfxStatErrUnsupported = 5;
constexpr OfxStatus kOfxStatErrExists = 6;
constexpr OfxStatus kOfxStatErrFormat = 7;
constexpr OfxStatus kOfxStatErrMemory = 8;
constexpr OfxStatus kOfxStatErrBadHandle = 9;
constexpr OfxStatus kOfxStatErrBadIndex = 10;
constexpr OfxStatus kOfxStatErrValue = 11;
constexpr OfxStatus kOfxStatReplyYes = 12;
constexpr OfxStatus kOfxStatReplyNo = 13;
constexpr OfxStatus kOfxStatReplyDefault = 14;

#define FRAMELOOM_OFX_STR(id, value) inline constexpr const char id[] = value

// APIs and suites
FRAMELOOM_OFX_STR(kOfxImageEffectPluginApi, "OfxImageEffectPluginAPI");
constexpr int kOfxImageEffectPluginApiVersion = 1;
FRAMELOOM_OFX_STR(kOfxPropertySuite, "OfxPropertySuite");
FRAMELOOM_OFX_STR(kOfxParameterSuite, "OfxParameterSuite");
FRAMELOOM_OFX_STR(kOfxImageEffectSuite, "OfxImageEffectSuite");
FRAMELOOM_OFX_STR(kOfxMemorySuite, "OfxMemorySuite");
FRAMELOOM_OFX_STR(kOfxMultiThreadSuite, "OfxMultiThreadSuite");
FRAMELOOM_OFX_STR(kOfxMessageSuite, "OfxMessageSuite");

// actions
FRAMELOOM_OFX_STR(kOfxActionLoad, "OfxActionLoad");
FRAMELOOM_OFX_STR(kOfxActionDescribe, "OfxActionDescribe");
FRAMELOOM_OFX_STR(kOfxActionUnload, "OfxActionUnload");
FRAMELOOM_OFX_STR(kOfxActionPurgeCaches, "OfxActionPurgeCaches");
FRAMELOOM_OFX_STR(kOfxActionSyncPrivateData, "OfxActionSyncPrivateData");
FRAMELOOM_OFX_STR(kOfxActionCreateInstance, "OfxActionCreateInstance");
FRAMELOOM_OFX_STR(kOfxActionDestroyInstance, "OfxActionDestroyInstance");
FRAMELOOM_OFX_STR(kOfxActionInstanceChanged, "OfxActionInstanceChanged");
FRAMELOOM_OFX_STR(kOfxActionBeginInstanceChanged, "OfxActionBeginInstanceChanged");
FRAMELOOM_OFX_STR(kOfxActionEndInstanceChanged, "OfxActionEndInstanceChanged");
FRAMELOOM_OFX_STR(kOfxImageEffectActionGetRegionOfDefinition, "OfxImageEffectActionGetRegionOfDefinition");
FRAMELOOM_OFX_STR(kOfxImageEffectActionGetRegionsOfInterest, "OfxImageEffectActionGetRegionsOfInterest");
FRAMELOOM_OFX_STR(kOfxImageEffectActionGetTimeDomain, "OfxImageEffectActionGetTimeDomain");
FRAMELOOM_OFX_STR(kOfxImageEffectActionGetFramesNeeded, "OfxImageEffectActionGetFramesNeeded");
FRAMELOOM_OFX_STR(kOfxImageEffectActionGetClipPreferences, "OfxImageEffectActionGetClipPreferences");
FRAMELOOM_OFX_STR(kOfxImageEffectActionIsIdentity, "OfxImageEffectActionIsIdentity");
FRAMELOOM_OFX_STR(kOfxImageEffectActionRender, "OfxImageEffectActionRender");
FRAMELOOM_OFX_STR(kOfxImageEffectActionBeginSequenceRender, "OfxImageEffectActionBeginSequenceRender");
FRAMELOOM_OFX_STR(kOfxImageEffectActionEndSequenceRender, "OfxImageEffectActionEndSequenceRender");
FRAMELOOM_OFX_STR(kOfxImageEffectActionDescribeInContext, "OfxImageEffectActionDescribeInContext");

// general properties
FRAMELOOM_OFX_STR(kOfxPropAPIVersion, "OfxPropAPIVersion");
FRAMELOOM_OFX_STR(kOfxPropTime, "OfxPropTime");
FRAMELOOM_OFX_STR(kOfxPropIsInteractive, "OfxPropIsInteractive");
FRAMELOOM_OFX_STR(kOfxPluginPropFilePath, "OfxPluginPropFilePath");
FRAMELOOM_OFX_STR(kOfxPropInstanceData, "OfxPropInstanceData");
FRAMELOOM_OFX_STR(kOfxPropType, "OfxPropType");
FRAMELOOM_OFX_STR(kOfxPropName, "OfxPropName");
FRAMELOOM_OFX_STR(kOfxPropVersion, "OfxPropVersion");
FRAMELOOM_OFX_STR(kOfxPropVersionLabel, "OfxPropVersionLabel");
FRAMELOOM_OFX_STR(kOfxPropPluginDescription, "OfxPropPluginDescription");
FRAMELOOM_OFX_STR(kOfxPropLabel, "OfxPropLabel");
FRAMELOOM_OFX_STR(kOfxPropShortLabel, "OfxPropShortLabel");
FRAMELOOM_OFX_STR(kOfxPropLongLabel, "OfxPropLongLabel");
FRAMELOOM_OFX_STR(kOfxPropChangeReason, "OfxPropChangeReason");
FRAMELOOM_OFX_STR(kOfxChangeUserEdited, "OfxChangeUserEdited");
FRAMELOOM_OFX_STR(kOfxChangePluginEdited, "OfxChangePluginEdited");
FRAMELOOM_OFX_STR(kOfxChangeTime, "OfxChangeTime");

// object types (kOfxPropType values)
FRAMELOOM_OFX_STR(kOfxTypeImageEffectHost, "OfxTypeImageEffectHost");
FRAMELOOM_OFX_STR(kOfxTypeImageEffect, "OfxTypeImageEffect");
FRAMELOOM_OFX_STR(kOfxTypeImageEffectInstance, "OfxTypeImageEffectInstance");
FRAMELOOM_OFX_STR(kOfxTypeClip, "OfxTypeClip");
FRAMELOOM_OFX_STR(kOfxTypeImage, "OfxTypeImage");
FRAMELOOM_OFX_STR(kOfxTypeParameter, "OfxTypeParameter");
FRAMELOOM_OFX_STR(kOfxTypeParameterInstance, "OfxTypeParameterInstance");

// pixel depths and components
FRAMELOOM_OFX_STR(kOfxBitDepthNone, "OfxBitDepthNone");
FRAMELOOM_OFX_STR(kOfxBitDepthByte, "OfxBitDepthByte");
FRAMELOOM_OFX_STR(kOfxBitDepthShort, "OfxBitDepthShort");
FRAMELOOM_OFX_STR(kOfxBitDepthHalf, "OfxBitDepthHalf");
FRAMELOOM_OFX_STR(kOfxBitDepthFloat, "OfxBitDepthFloat");
FRAMELOOM_OFX_STR(kOfxImageComponentNone, "OfxImageComponentNone");
FRAMELOOM_OFX_STR(kOfxImageComponentRGBA, "OfxImageComponentRGBA");
FRAMELOOM_OFX_STR(kOfxImageComponentRGB, "OfxImageComponentRGB");
FRAMELOOM_OFX_STR(kOfxImageComponentAlpha, "OfxImageComponentAlpha");
FRAMELOOM_OFX_STR(kOfxImageOpaque, "OfxImageOpaque");
FRAMELOOM_OFX_STR(kOfxImagePreMultiplied, "OfxImageAlphaPremultiplied");
FRAMELOOM_OFX_STR(kOfxImageUnPreMultiplied, "OfxImageAlphaUnPremultiplied");

// contexts
FRAMELOOM_OFX_STR(kOfxImageEffectContextFilter, "OfxImageEffectContextFilter");
FRAMELOOM_OFX_STR(kOfxImageEffectContextGeneral, "OfxImageEffectContextGeneral");

// clip names
FRAMELOOM_OFX_STR(kOfxImageEffectOutputClipName, "Output");
FRAMELOOM_OFX_STR(kOfxImageEffectSimpleSourceClipName, "Source");

// image effect host, plugin and instance properties
FRAMELOOM_OFX_STR(kOfxImageEffectPropSupportedContexts, "OfxImageEffectPropSupportedContexts");
FRAMELOOM_OFX_STR(kOfxImageEffectPropPluginHandle, "OfxImageEffectPropPluginHandle");
FRAMELOOM_OFX_STR(kOfxImageEffectHostPropIsBackground, "OfxImageEffectHostPropIsBackground");
FRAMELOOM_OFX_STR(kOfxImageEffectPluginPropSingleInstance, "OfxImageEffectPluginPropSingleInstance");
FRAMELOOM_OFX_STR(kOfxImageEffectPluginRenderThreadSafety, "OfxImageEffectPluginRenderThreadSafety");
FRAMELOOM_OFX_STR(kOfxImageEffectRenderUnsafe, "OfxImageEffectRenderUnsafe");
FRAMELOOM_OFX_STR(kOfxImageEffectRenderInstanceSafe, "OfxImageEffectRenderInstanceSafe");
FRAMELOOM_OFX_STR(kOfxImageEffectRenderFullySafe, "OfxImageEffectRenderFullySafe");
FRAMELOOM_OFX_STR(kOfxImageEffectPluginPropHostFrameThreading, "OfxImageEffectPluginPropHostFrameThreading");
FRAMELOOM_OFX_STR(kOfxImageEffectPropSupportsMultipleClipDepths, "OfxImageEffectPropMultipleClipDepths");
FRAMELOOM_OFX_STR(kOfxImageEffectPropSupportsMultipleClipPARs, "OfxImageEffectPropSupportsMultipleClipPARs");
FRAMELOOM_OFX_STR(kOfxImageEffectInstancePropSequentialRender, "OfxImageEffectInstancePropSequentialRender");
FRAMELOOM_OFX_STR(kOfxImageEffectPropSequentialRenderStatus, "OfxImageEffectPropSequentialRenderStatus");
FRAMELOOM_OFX_STR(kOfxImageEffectPropInteractiveRenderStatus, "OfxImageEffectPropInteractiveRenderStatus");
FRAMELOOM_OFX_STR(kOfxImageEffectPluginPropGrouping, "OfxImageEffectPluginPropGrouping");
FRAMELOOM_OFX_STR(kOfxImageEffectPropSupportsMultiResolution, "OfxImageEffectPropSupportsMultiResolution");
FRAMELOOM_OFX_STR(kOfxImageEffectPropSupportsTiles, "OfxImageEffectPropSupportsTiles");
FRAMELOOM_OFX_STR(kOfxImageEffectPropTemporalClipAccess, "OfxImageEffectPropTemporalClipAccess");
FRAMELOOM_OFX_STR(kOfxImageEffectPropContext, "OfxImageEffectPropContext");
FRAMELOOM_OFX_STR(kOfxImageEffectPropPixelDepth, "OfxImageEffectPropPixelDepth");
FRAMELOOM_OFX_STR(kOfxImageEffectPropComponents, "OfxImageEffectPropComponents");
FRAMELOOM_OFX_STR(kOfxImageEffectPropPreMultiplication, "OfxImageEffectPropPreMultiplication");
FRAMELOOM_OFX_STR(kOfxImageEffectPropSupportedPixelDepths, "OfxImageEffectPropSupportedPixelDepths");
FRAMELOOM_OFX_STR(kOfxImageEffectPropSupportedComponents, "OfxImageEffectPropSupportedComponents");
FRAMELOOM_OFX_STR(kOfxImageEffectPropFrameRate, "OfxImageEffectPropFrameRate");
FRAMELOOM_OFX_STR(kOfxImageEffectPropFrameStep, "OfxImageEffectPropFrameStep");
FRAMELOOM_OFX_STR(kOfxImageEffectPropFrameRange, "OfxImageEffectPropFrameRange");
FRAMELOOM_OFX_STR(kOfxImageEffectPropRenderScale, "OfxImageEffectPropRenderScale");
FRAMELOOM_OFX_STR(kOfxImageEffectPropProjectSize, "OfxImageEffectPropProjectSize");
FRAMELOOM_OFX_STR(kOfxImageEffectPropProjectExtent, "OfxImageEffectPropProjectExtent");
FRAMELOOM_OFX_STR(kOfxImageEffectPropProjectOffset, "OfxImageEffectPropProjectOffset");
FRAMELOOM_OFX_STR(kOfxImageEffectPropProjectPixelAspectRatio, "OfxImageEffectPropPixelAspectRatio");
FRAMELOOM_OFX_STR(kOfxImageEffectInstancePropEffectDuration, "OfxImageEffectInstancePropEffectDuration");
FRAMELOOM_OFX_STR(kOfxImageEffectPropRegionOfDefinition, "OfxImageEffectPropRegionOfDefinition");
FRAMELOOM_OFX_STR(kOfxImageEffectPropRenderWindow, "OfxImageEffectPropRenderWindow");
FRAMELOOM_OFX_STR(kOfxImageEffectPropFieldToRender, "OfxImageEffectPropFieldToRender");
FRAMELOOM_OFX_STR(kOfxImageEffectHostPropNativeOrigin, "OfxImageEffectHostPropNativeOrigin");
FRAMELOOM_OFX_STR(kOfxImageEffectFrameVarying, "OfxImageEffectFrameVarying");

// clip and image properties
FRAMELOOM_OFX_STR(kOfxImageClipPropOptional, "OfxImageClipPropOptional");
FRAMELOOM_OFX_STR(kOfxImageClipPropIsMask, "OfxImageClipPropIsMask");
FRAMELOOM_OFX_STR(kOfxImageClipPropConnected, "OfxImageClipPropConnected");
FRAMELOOM_OFX_STR(kOfxImageClipPropUnmappedPixelDepth, "OfxImageClipPropUnmappedPixelDepth");
FRAMELOOM_OFX_STR(kOfxImageClipPropUnmappedComponents, "OfxImageClipPropUnmappedComponents");
FRAMELOOM_OFX_STR(kOfxImageClipPropContinuousSamples, "OfxImageClipPropContinuousSamples");
FRAMELOOM_OFX_STR(kOfxImageClipPropFieldOrder, "OfxImageClipPropFieldOrder");
FRAMELOOM_OFX_STR(kOfxImagePropPixelAspectRatio, "OfxImagePropPixelAspectRatio");
FRAMELOOM_OFX_STR(kOfxImagePropData, "OfxImagePropData");
FRAMELOOM_OFX_STR(kOfxImagePropBounds, "OfxImagePropBounds");
FRAMELOOM_OFX_STR(kOfxImagePropRegionOfDefinition, "OfxImagePropRegionOfDefinition");
FRAMELOOM_OFX_STR(kOfxImagePropRowBytes, "OfxImagePropRowBytes");
FRAMELOOM_OFX_STR(kOfxImagePropField, "OfxImagePropField");
FRAMELOOM_OFX_STR(kOfxImagePropUniqueIdentifier, "OfxImagePropUniqueIdentifier");
FRAMELOOM_OFX_STR(kOfxImageFieldNone, "OfxFieldNone");
// Actions' per-clip arguments: these prefixes followed by the clip's name.
FRAMELOOM_OFX_STR(kOfxClipPropFrameRangePrefix, "OfxImageClipPropFrameRange_");
FRAMELOOM_OFX_STR(kOfxClipPropComponentsPrefix, "OfxImageClipPropComponents_");
FRAMELOOM_OFX_STR(kOfxClipPropDepthPrefix, "OfxImageClipPropDepth_");

// parameters
FRAMELOOM_OFX_STR(kOfxParamTypeInteger, "OfxParamTypeInteger");
FRAMELOOM_OFX_STR(kOfxParamTypeDouble, "OfxParamTypeDouble");
FRAMELOOM_OFX_STR(kOfxParamTypeBoolean, "OfxParamTypeBoolean");
FRAMELOOM_OFX_STR(kOfxParamTypeChoice, "OfxParamTypeChoice");
FRAMELOOM_OFX_STR(kOfxParamTypeString, "OfxParamTypeString");
FRAMELOOM_OFX_STR(kOfxParamTypeGroup, "OfxParamTypeGroup");
FRAMELOOM_OFX_STR(kOfxParamTypePage, "OfxParamTypePage");
FRAMELOOM_OFX_STR(kOfxParamTypePushButton, "OfxParamTypePushButton");
FRAMELOOM_OFX_STR(kOfxParamPropType, "OfxParamPropType");
FRAMELOOM_OFX_STR(kOfxParamPropAnimates, "OfxParamPropAnimates");
FRAMELOOM_OFX_STR(kOfxParamPropIsAnimating, "OfxParamPropIsAnimating");
FRAMELOOM_OFX_STR(kOfxParamPropPersistant, "OfxParamPropPersistant");
FRAMELOOM_OFX_STR(kOfxParamPropEvaluateOnChange, "OfxParamPropEvaluateOnChange");
FRAMELOOM_OFX_STR(kOfxParamPropScriptName, "OfxParamPropScriptName");
FRAMELOOM_OFX_STR(kOfxParamPropCacheInvalidation, "OfxParamPropCacheInvalidation");
FRAMELOOM_OFX_STR(kOfxParamInvalidateAll, "OfxParamInvalidateAll");
FRAMELOOM_OFX_STR(kOfxParamPropHint, "OfxParamPropHint");
FRAMELOOM_OFX_STR(kOfxParamPropDefault, "OfxParamPropDefault");
FRAMELOOM_OFX_STR(kOfxParamPropParent, "OfxParamPropParent");
FRAMELOOM_OFX_STR(kOfxParamPropChoiceOption, "OfxParamPropChoiceOption");
FRAMELOOM_OFX_STR(kOfxParamPropMin, "OfxParamPropMin");
FRAMELOOM_OFX_STR(kOfxParamPropMax, "OfxParamPropMax");
FRAMELOOM_OFX_STR(kOfxParamPropDisplayMin, "OfxParamPropDisplayMin");
FRAMELOOM_OFX_STR(kOfxParamPropDisplayMax, "OfxParamPropDisplayMax");
FRAMELOOM_OFX_STR(kOfxParamPropIncrement, "OfxParamPropIncrement");
FRAMELOOM_OFX_STR(kOfxParamPropDigits, "OfxParamPropDigits");
FRAMELOOM_OFX_STR(kOfxParamPropStringMode, "OfxParamPropStringMode");
FRAMELOOM_OFX_STR(kOfxParamPropStringFilePathExists, "OfxParamPropStringFilePathExists");
FRAMELOOM_OFX_STR(kOfxParamStringIsSingleLine, "OfxParamStringIsSingleLine");
FRAMELOOM_OFX_STR(kOfxParamStringIsMultiLine, "OfxParamStringIsMultiLine");
FRAMELOOM_OFX_STR(kOfxParamStringIsFilePath, "OfxParamStringIsFilePath");
FRAMELOOM_OFX_STR(kOfxParamHostPropSupportsStringAnimation, "OfxParamHostPropSupportsStringAnimation");

// messages
FRAMELOOM_OFX_STR(kOfxMessageFatal, "OfxMessageFatal");
FRAMELOOM_OFX_STR(kOfxMessageError, "OfxMessageError");
FRAMELOOM_OFX_STR(kOfxMessageWarning, "OfxMessageWarning");
FRAMELOOM_OFX_STR(kOfxMessageMessage, "OfxMessageMessage");
FRAMELOOM_OFX_STR(kOfxMessageLog, "OfxMessageLog");

#undef FRAMELOOM_OFX_STR

}  // namespace ofx
